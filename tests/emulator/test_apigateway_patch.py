"""API Gateway integration timeouts in the emulator as AWS states them (tools/emulator_patches/apigateway.py): a REST
integration without its own answers the 29 s default, an HTTP API's integrations default to 30 s and a WebSocket
API's to 29 s, and a value outside 50 to 30,000 (HTTP) or 29,000 (WebSocket) milliseconds is refused."""

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

URI = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:f" \
      "/invocations"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:f"


def proxy_method(apigateway):
    api = apigateway.create_rest_api(name="records-api-dev")
    (root,) = [item["id"] for item in apigateway.get_resources(restApiId=api["id"])["items"]]
    proxy = apigateway.create_resource(restApiId=api["id"], parentId=root, pathPart="{proxy+}")
    apigateway.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE")
    return {"restApiId": api["id"], "resourceId": proxy["id"], "httpMethod": "ANY"}


def test_a_rest_integration_without_a_timeout_answers_the_default(aws):
    apigateway = aws.client("apigateway")
    method = proxy_method(apigateway)
    apigateway.put_integration(**method, type="AWS_PROXY", integrationHttpMethod="POST", uri=URI)
    assert apigateway.get_integration(**method)["timeoutInMillis"] == 29000
    (resource,) = [item for item in apigateway.get_resources(restApiId=method["restApiId"], embed=["methods"])["items"]
                   if item["path"] == "/{proxy+}"]
    assert resource["resourceMethods"]["ANY"]["methodIntegration"]["timeoutInMillis"] == 29000
    apigateway.put_integration(**method, type="AWS_PROXY", integrationHttpMethod="POST", uri=URI, timeoutInMillis=5000)
    assert apigateway.get_integration(**method)["timeoutInMillis"] == 5000


@pytest.mark.parametrize(("protocol", "extra", "limit"), [("HTTP", {"PayloadFormatVersion": "2.0"}, 30000),
                                                          ("WEBSOCKET", {"RouteSelectionExpression":
                                                                         "$request.body.action"}, 29000)])
def test_v2_integrations_default_to_and_stay_within_their_apis_limit(aws, protocol, extra, limit):
    # Without botocore's own check of the lower bound, so that the emulator's is tested.
    apigatewayv2 = aws.client("apigatewayv2", config=Config(parameter_validation=False))
    api = apigatewayv2.create_api(Name="shop-dev", ProtocolType=protocol,
                                  **{key: value for key, value in extra.items() if key != "PayloadFormatVersion"})
    integration = {"ApiId": api["ApiId"], "IntegrationType": "AWS_PROXY", "IntegrationUri": FUNCTION,
                   **{key: value for key, value in extra.items() if key == "PayloadFormatVersion"}}
    created = apigatewayv2.create_integration(**integration)
    assert created["TimeoutInMillis"] == limit
    assert apigatewayv2.create_integration(**integration, TimeoutInMillis=limit)["TimeoutInMillis"] == limit
    for refused in (limit + 1, 49):
        with pytest.raises(ClientError) as error:
            apigatewayv2.create_integration(**integration, TimeoutInMillis=refused)
        assert error.value.response["Error"]["Code"] == "BadRequestException"
    assert [item["TimeoutInMillis"] for item in apigatewayv2.get_integrations(ApiId=api["ApiId"])["Items"]] == [
        limit, limit]
